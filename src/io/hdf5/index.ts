export { Hdf5Dataset, Hdf5File, Hdf5Group, isHdf5, type AttributeValue } from './file.js';
