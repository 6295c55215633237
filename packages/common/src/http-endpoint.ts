// Every daemon's HTTP port (issue 17): Prometheus metrics at /metrics, liveness
// at /healthz, readiness at /readyz, and whatever pages the daemon adds (the
// master's status page). Read-only and unauthenticated: bind it to a management
// address. Plain node:http: a handful of GET routes need no framework.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { prom } from "./metrics";
import { parseHostPort } from "./address";

/** Whether the daemon can do its job now, and if not, why (shown by /readyz). */
export interface Readiness { ready: boolean; reason?: string }

export type HttpRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpEndpointOptions {
  /** HOST:PORT to listen on (port 0: any free port). */
  listen: string;
  /** Called on every /readyz. */
  readiness: () => Readiness;
  /** Extra GET routes by exact path, e.g. "/" and "/status.json" on the master. */
  routes?: Record<string, HttpRoute>;
}

export interface HttpEndpoint {
  server: Server;
  /** The bound HOST:PORT. */
  address: string;
  close(): Promise<void>;
}

/** The flag every daemon takes; --metrics-listen is the same flag under the name. */
export const httpFlagSpecs = {
  "http-listen": {
    type: "hostport" as const, alias: "metrics-listen",
    help: "serve /metrics (Prometheus), /healthz and /readyz on HOST:PORT (port 0: any free port; default: no HTTP port)",
  },
};

export function sendText(res: ServerResponse, status: number, body: string, contentType = "text/plain; charset=utf-8"): void {
  res.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
  res.end(body);
}

export async function startHttpEndpoint(opts: HttpEndpointOptions): Promise<HttpEndpoint> {
  const routes: Record<string, HttpRoute> = {
    "/metrics": async (_req, res) => sendText(res, 200, await prom().register.metrics(), prom().register.contentType),
    // Alive: the event loop answers. Nothing more, so a supervisor restarts only a wedged process.
    "/healthz": (_req, res) => sendText(res, 200, "ok\n"),
    "/readyz": (_req, res) => {
      const r = opts.readiness();
      sendText(res, r.ready ? 200 : 503, r.ready ? "ready\n" : `not ready: ${r.reason ?? "starting"}\n`);
    },
    ...opts.routes,
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const route = routes[path];
    if (req.method !== "GET" && req.method !== "HEAD") return sendText(res, 405, "only GET\n");
    if (!route) return sendText(res, 404, `no page ${path}\n`);
    Promise.resolve(route(req, res)).catch((e: Error) => {
      if (!res.headersSent) sendText(res, 500, `${e.message}\n`);
      else res.destroy();
    });
  });
  const { host, port } = parseHostPort(opts.listen, "--http-listen");
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host.replace(/^\[|\]$/g, ""), () => { server.off("error", reject); resolve(); });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    server,
    address: `${host}:${bound}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
