import type { Server } from 'node:http';

/** How much longer than the load balancer's idle timeout the tier keeps an idle connection, ms. */
export const KEEP_ALIVE_MARGIN_MS = 5_000;
/** How much longer than the load balancer's idle timeout the tier waits for a request's headers, ms. */
export const HEADERS_MARGIN_MS = 10_000;

/**
 * Node closes an idle keep-alive connection after 5 s by default, while the
 * load balancer keeps its side for its idle timeout and may send the next
 * request just as Node closes: that request gets a 502. So the tier keeps
 * idle connections (keepAliveTimeout) and waits for headers (headersTimeout)
 * longer than the balancer's idle timeout, and the balancer always closes
 * first. A whole request may take at least as long as its headers
 * (requestTimeout ≥ headersTimeout, as Node requires of its own options).
 */
export function applyServerTimeouts(server: Server, loadBalancerIdleSeconds: number): void {
  const idleMs = loadBalancerIdleSeconds * 1000;
  server.keepAliveTimeout = idleMs + KEEP_ALIVE_MARGIN_MS;
  server.headersTimeout = idleMs + HEADERS_MARGIN_MS;
  server.requestTimeout = Math.max(server.requestTimeout, server.headersTimeout);
}
