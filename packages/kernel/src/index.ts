export { type BackoffOptions, backoffDelay } from './backoff.js';
export { type Logger, silentLogger } from './logger.js';
export { isPlainObject } from './plain-object.js';
export { abortReason, sleep } from './sleep.js';
export { canonicalUuid, isUuid, UUID_PATTERN } from './uuid.js';
export { XError, type XErrorOptions } from './x-error.js';
