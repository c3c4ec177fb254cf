import { describe, expect, it } from '@jest/globals';
import { printable, sanitizeTerminal } from '../../../src/recording/terminal.js';

describe('terminal sanitising for replay', () => {
  it('keeps text, colours, cursor movement and common screen modes', () => {
    const s = 'plain\r\n\t\x1b[1;32mgreen\x1b[0m \x1b[2J\x1b[H\x1b[10;5H\x1b[K\x1b[?25l\x1b[?1049h\bx\x1b[?25h';
    expect(sanitizeTerminal(s)).toBe(s);
  });

  it('drops sequences that act on the terminal or make it answer', () => {
    const evil = [
      '\x1b]0;pwned title\x07', // window title (OSC)
      '\x1b]52;c;ZWNobyBwd25lZA==\x1b\\', // clipboard write (OSC 52)
      '\x1bP+q544e\x1b\\', // DCS request
      '\x1b[21t', // report window title (answers with input)
      '\x1b[6n', // cursor position report
      '\x1b[c', // device attributes
      '\x1b[?1000h', // mouse reporting
      '\x9d0;c1-osc\x07', // 8-bit OSC introducer
      '\x9b6n', // 8-bit CSI device status report
      '\x1b_apc\x1b\\',
      '\x05\x1b7',
    ];
    expect(sanitizeTerminal(`a${evil.join('b')}z`)).toBe(`a${'b'.repeat(evil.length - 1)}z`);
    for (const e of evil) expect(sanitizeTerminal(`x${e}y`)).toMatch(/^x[^\x1b\x07\x9d]*y$/);
  });

  it('makes single-line fields printable', () => {
    expect(printable('ok\x1b]0;t\x07\n')).toBe('ok\\x1b]0;t\\x07\\x0a');
  });
});
