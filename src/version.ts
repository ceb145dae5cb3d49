/** The package version; test/version.test.ts checks it against package.json (no file read, so browsers have it). */
export const version = '0.1.0';
