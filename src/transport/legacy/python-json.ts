// JSON exactly as the old Flask service wrote it (Flask 2.x jsonify): keys sorted, no spaces,
// non-ASCII escaped as \uXXXX, and a trailing newline — so old clients see identical bytes.

export function pythonJson(value: Record<string, string | number>): string {
  const sorted: Record<string, string | number> = {};
  for (const key of Object.keys(value).sort()) sorted[key] = value[key]!;
  // JSON.stringify already matches Python for quotes, backslashes and control characters.
  const text = JSON.stringify(sorted).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return `${text}\n`;
}
