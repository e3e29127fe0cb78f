/** Recorded in every backup record. Kept in sync with package.json by hand (bundles lose it). */
export const TOOL_VERSION = '0.1.0';
