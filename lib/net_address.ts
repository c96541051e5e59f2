// Socket address text shared by the tracker and the peer: "host:port" with IPv6 in brackets, IPv4-mapped IPv6
// (what a dual-stack socket reports for IPv4 clients) back to dotted IPv4, and RFC 5952 text of IPv6 bytes.
// Layer 0: strings only, no sockets.

/** "host:port", or "[host]:port" for an IPv6 host. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An IPv4-mapped IPv6 address ("::ffff:a.b.c.d", any case) as plain dotted IPv4; any other host unchanged. */
export function unmapIPv4(host: string): string {
  return host.length > 7 && host.slice(0, 7).toLowerCase() === "::ffff:" && host.indexOf(".") > 0
    ? host.slice(7)
    : host;
}

/** RFC 5952 text of a 16-byte IPv6 address (lower case, longest zero run of 2+ groups as `::`, mapped IPv4 dotted). */
export function formatIPv6(b: Uint8Array): string {
  // RFC 5952 section 5: IPv4-mapped addresses end in dotted decimal.
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return hex.slice(0, bestStart).join(":") + "::" + hex.slice(bestStart + bestLen).join(":");
}
