// Socket address text shared by the tracker and the peer: "host:port" with IPv6 in brackets, and IPv4-mapped IPv6
// (what a dual-stack socket reports for IPv4 clients) back to dotted IPv4. Layer 0: strings only, no sockets.

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
