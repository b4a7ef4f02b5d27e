/**
 * `T`, but not an inference site: a type parameter wrapped in it is decided by the other places
 * it appears (a method decides `Args`, the `encryptors` option decides the encryptor names), so a
 * value that does not fit is an error where it is written rather than a wider `T`. What
 * TypeScript 5.4's `NoInfer` does, spelt so that TypeScript 5.0 understands it.
 */
export type Uninferred<T> = [T][T extends unknown ? 0 : never];
