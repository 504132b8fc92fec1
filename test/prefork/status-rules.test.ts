// The status page's rules, in-process: which Host names it answers to (DNS rebinding) and how a
// request in flight is shown (without its query string).
import { describe, expect, it } from 'vitest';
import { hostAllowed } from '../../src/prefork/status-page';
import { withoutQuery } from '../../src/prefork/status-snapshot';

describe('hostAllowed', () => {
  it('IP addresses, localhost and this machine\'s name, with or without a port; no Host (HTTP/1.0)', () => {
    for (const host of ['127.0.0.1', '127.0.0.1:9000', '10.1.2.3:80', '[::1]', '[::1]:9000', 'localhost', 'LOCALHOST:9000', 'localhost.', 'box7', 'box7:9000', undefined]) {
      expect(hostAllowed(host, 'box7'), String(host)).toBe(true);
    }
  });

  it('any other name, and malformed hosts', () => {
    for (const host of ['evil.example', 'evil.example:9000', '127.0.0.1.nip.io', 'localhost.evil.example', '[::1', '[evil]:80', '127.0.0.1:x', 'box8', '']) {
      expect(hostAllowed(host, 'box7'), host).toBe(false);
    }
  });
});

describe('withoutQuery', () => {
  it('leaves the path, marks that a query was there', () => {
    expect(withoutQuery('GET /slow?token=SECRET123')).toBe('GET /slow?…');
    expect(withoutQuery('GET /plain')).toBe('GET /plain');
  });
});
