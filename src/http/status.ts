// Reason phrases for the status codes a server sends (RFC 9110 §15 unless noted).
export const STATUS_TEXT: Readonly<Record<number, string>> = Object.freeze({
  100: 'Continue', // §15.2.1
  101: 'Switching Protocols', // §15.2.2
  200: 'OK', // §15.3.1
  201: 'Created', // §15.3.2
  202: 'Accepted', // §15.3.3
  204: 'No Content', // §15.3.5
  206: 'Partial Content', // §15.3.7
  301: 'Moved Permanently', // §15.4.2
  302: 'Found', // §15.4.3
  303: 'See Other', // §15.4.4
  304: 'Not Modified', // §15.4.5
  307: 'Temporary Redirect', // §15.4.8
  308: 'Permanent Redirect', // §15.4.9
  400: 'Bad Request', // §15.5.1
  401: 'Unauthorized', // §15.5.2
  403: 'Forbidden', // §15.5.4
  404: 'Not Found', // §15.5.5
  405: 'Method Not Allowed', // §15.5.6
  408: 'Request Timeout', // §15.5.9
  409: 'Conflict', // §15.5.10
  411: 'Length Required', // §15.5.12
  413: 'Content Too Large', // §15.5.14
  414: 'URI Too Long', // §15.5.15
  415: 'Unsupported Media Type', // §15.5.16
  417: 'Expectation Failed', // §15.5.18
  422: 'Unprocessable Content', // §15.5.21
  426: 'Upgrade Required', // §15.5.22
  429: 'Too Many Requests', // RFC 6585 §4
  431: 'Request Header Fields Too Large', // RFC 6585 §5
  500: 'Internal Server Error', // §15.6.1
  501: 'Not Implemented', // §15.6.2
  502: 'Bad Gateway', // §15.6.3
  503: 'Service Unavailable', // §15.6.4
  504: 'Gateway Timeout', // §15.6.5
  505: 'HTTP Version Not Supported', // §15.6.6
});

export function reasonPhrase(status: number): string {
  return STATUS_TEXT[status] ?? 'Unknown';
}
