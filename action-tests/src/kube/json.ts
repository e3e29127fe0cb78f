/**
 * Kubernetes objects are handled as schemaless JSON throughout the fake (like unstructured.Unstructured);
 * this alias is the one place `any` is allowed.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Loose = any;
export type Obj = Record<string, Loose>;
