// berth's registry client: the OCI distribution spec, docker's auth, pull and push.
export { RegistryClient, RegistryError, verifyLogin, parseChallenge, isLoopback, pullScope, pushScope, MANIFEST_ACCEPT, type RegistryOptions, type Challenge, type ManifestResponse } from './client.js';
export { readCredentials, storeCredentials, removeCredentials, dockerConfigDir, dockerConfigFile, authKey, type Credentials } from './credentials.js';
export { pullImage, pull, type PullOptions, type PullResult, type PullEvent } from './pull.js';
export { pushImage, type PushOptions, type PushResult, type PushEvent } from './push.js';
export { progressLines, type ProgressLine } from './progress.js';
export { ensureImage, PULL_POLICIES, type PullPolicy, type EnsureOptions, type EnsureResult } from './ensure.js';
