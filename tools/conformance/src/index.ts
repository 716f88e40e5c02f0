export { createEverythingServer, JSON_SCHEMA_2020_12, TEST_PNG_BASE64, TEST_WAV_BASE64, WATCHED_RESOURCE_URI, type EverythingOptions } from './everything.js';
export { startEverythingHttp, type EverythingHttp, type EverythingHttpOptions } from './everything-http.js';
export { MemoryEventStore } from './event-store.js';
