/** The HTTP transports: SSE, long polling, short polling, fixed-interval polling. */
export { enableHttpTransports, HttpTransports } from './http-transports.js';
export { HttpSession } from './session.js';
export {
  type HttpTransportOptions,
  type HttpTransportName,
  type CorsOptions,
  DEFAULT_HTTP_TRANSPORT_OPTIONS,
  HTTP_TRANSPORTS,
} from './options.js';
