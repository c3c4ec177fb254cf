// Replaying what a (possibly hostile) agent's exec session printed must not attack the reviewer's
// terminal: escape sequences that set titles or the clipboard (OSC), send device control strings
// (DCS/APC/PM/SOS), or make the terminal answer with input (status/size reports, mouse modes) are
// dropped. Colours, cursor movement, erasing and the usual screen modes are kept so output looks right.
const ALLOWED_CSI_FINAL = new Set(['m', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'f', 'd', 's', 'u', 'r', 'X', 'P', '@', 'L', 'M', 'S', 'T']);
const ALLOWED_PRIVATE_MODES = new Set(['?25', '?1049', '?1047', '?47', '?7', '?12', '4']);

// CSI (ESC [ or 8-bit) params intermediates final | OSC (ESC ] or 8-bit) ... BEL/ST | DCS/SOS/PM/APC ... ST |
// any other ESC x | other C1 controls | C0 controls except \t \n \r \b and ESC.
const SEQ =
  /(?:\x1b\[|\x9b)([0-?]*)([ -/]*)([@-~])|(?:\x1b\]|\x9d)[\s\S]*?(?:\x07|\x9c|\x1b\\|$)|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[\s\S]*?(?:\x9c|\x1b\\|$)|\x1b[\s\S]?|[\x80-\x9f]|[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]/g;

export function sanitizeTerminal(s: string): string {
  return s.replace(SEQ, (m: string, params: string | undefined, inter: string | undefined, final: string | undefined) => {
    if (final === undefined) return '';
    if (inter) return '';
    if (final === 'h' || final === 'l') return ALLOWED_PRIVATE_MODES.has(params ?? '') ? m : '';
    return ALLOWED_CSI_FINAL.has(final) ? m : '';
  });
}

/** For single-line fields (names, reasons) printed in the timeline: no control characters at all. */
export function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
