export { startMockServer, type MockServer, type MockServerOptions, type MockRequestRecord } from './mock-server.js';
