/** Every architecture family; importing this module registers all their builders with the registry. */
export * from './registry.js';
export * from './lenet.js';
export * from './alexnet.js';
export * from './vgg.js';
export * from './nin.js';
export * from './resnet.js';
export * from './cifar-resnet.js';
export * from './inception.js';
export * from './inception-v3.js';
export * from './inception-v4.js';
export * from './inception-resnet.js';
export * from './densenet.js';
export * from './weights.js';
export { IMAGENET_CLASSES } from './imagenet-classes.js';
