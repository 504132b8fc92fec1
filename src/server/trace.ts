// webserver2's conversation log, as in the tutorial: request lines prefixed "< ", response lines
// (head, then the start of the body) prefixed "> ". Bodies longer than the sample, or not text,
// are summarised by their size.

import type { Tracer } from '../gateway';
import type { RequestHead } from '../http/parser';
import { sayRaw } from './log';

const BODY_LINES = 20;

function lines(prefix: string, text: string): string {
  return text
    .split(/\r?\n/)
    .map((l) => `${prefix}${l}`.trimEnd())
    .join('\n');
}

export function printTracer(): Tracer {
  return {
    request(head: RequestHead) {
      const text = [`${head.method} ${head.target} HTTP/${head.versionMajor}.${head.versionMinor}`, ...head.headers.map(([n, v]) => `${n}: ${v}`)];
      sayRaw(`${lines('< ', text.join('\n'))}\n`);
    },
    response(bytes: Buffer, total: number) {
      const split = bytes.indexOf('\r\n\r\n');
      const headEnd = split < 0 ? bytes.length : split;
      let out = lines('> ', bytes.subarray(0, headEnd).toString('latin1'));
      if (split >= 0) {
        const body = bytes.subarray(split + 4);
        const bodyTotal = total - split - 4;
        const text = body.toString('utf8');
        const printable = !text.includes('\uFFFD') && !/[\x00-\x08\x0e-\x1f]/.test(text);
        out += '\n>';
        if (bodyTotal > 0 && printable) {
          const shown = text.split(/\r?\n/).slice(0, BODY_LINES).join('\n');
          out += `\n${lines('> ', shown.replace(/\n$/, ''))}`;
          if (bodyTotal > body.length || shown.length < text.replace(/\n$/, '').length) out += `\n> ... (${bodyTotal} bytes of body in all)`;
        } else if (bodyTotal > 0) {
          out += `\n> (${bodyTotal} bytes of body)`;
        }
      }
      sayRaw(`${out}\n\n`);
    },
  };
}
