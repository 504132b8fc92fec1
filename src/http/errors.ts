// Parse errors with stable codes (llhttp's HPE_* names where llhttp has one) and the single place
// that maps a code to the response a server sends before closing the connection.

export type ParseErrorCode =
  | 'HPE_INVALID_METHOD'
  | 'HPE_INVALID_URL'
  | 'HPE_INVALID_VERSION'
  | 'HPE_INVALID_HEADER_TOKEN'
  | 'HPE_INVALID_CONTENT_LENGTH'
  | 'HPE_UNEXPECTED_CONTENT_LENGTH'
  | 'HPE_INVALID_TRANSFER_ENCODING'
  | 'HPE_INVALID_CHUNK_SIZE'
  | 'HPE_CR_EXPECTED'
  | 'HPE_LF_EXPECTED'
  | 'HPE_STRICT'
  | 'HPE_INVALID_EOF_STATE'
  | 'HPE_HEADER_OVERFLOW'
  | 'HPE_URI_TOO_LONG'
  | 'HPE_BODY_TOO_LARGE'
  | 'HPE_UNSUPPORTED_VERSION'
  | 'HPE_UNSUPPORTED_TRANSFER_ENCODING'
  | 'HPE_MISSING_HOST'
  | 'HPE_DUPLICATE_HOST'
  | 'HPE_DUPLICATE_FIELD'
  | 'HPE_CLOSED_CONNECTION';

export class HttpParseError extends Error {
  override name = 'HttpParseError';
  constructor(
    readonly code: ParseErrorCode,
    message: string,
    /** Offset in the connection's byte stream where the error was found. */
    readonly offset: number,
  ) {
    super(`${code}: ${message}`);
  }
}

/** The status a server answers a parse error with (then it closes the connection). */
export function statusForParseError(code: ParseErrorCode): number {
  switch (code) {
    case 'HPE_URI_TOO_LONG':
      return 414; // RFC 9110 §15.5.15 URI Too Long
    case 'HPE_HEADER_OVERFLOW':
      return 431; // RFC 6585 §5 Request Header Fields Too Large
    case 'HPE_BODY_TOO_LARGE':
      return 413; // RFC 9110 §15.5.14 Content Too Large
    case 'HPE_UNSUPPORTED_VERSION':
      return 505; // RFC 9110 §15.6.6 HTTP Version Not Supported
    case 'HPE_UNSUPPORTED_TRANSFER_ENCODING':
      return 501; // RFC 9112 §6.1: an unknown transfer coding -> 501 Not Implemented
    default:
      return 400; // RFC 9110 §15.5.1 Bad Request
  }
}
