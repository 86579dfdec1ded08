/**
 * Digests: the sha256 the chart cache, the render cache and the checks key their files by.
 *
 * ```ts
 * await sha256("abc"); // → "ba7816bf…"
 * ```
 *
 * @module
 */

/** sha256 of bytes or text, hex. */
export async function sha256(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const hash = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
