// Node-only transports: gRPC over HTTP/2 (and Connect over HTTP/2), with
// per-instance routing of sessions.

import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { apiKeyInterceptor, baseUrlOf, type MongogateClientOptions } from "./client.js";

export interface NodeTransportOptions {
  /** Sent as "authorization: Bearer <key>" on every call. */
  apiKey?: string;
  interceptors?: Interceptor[];
  /** "grpc" (default) or "connect" (the Connect protocol over HTTP/2). */
  protocol?: "grpc" | "connect";
}

/** A transport to one address, with the HTTP/2 connection it owns. */
export interface ClosableTransport {
  transport: Transport;
  close(): void;
}

/** A gRPC (or Connect) transport over one HTTP/2 connection to address (host:port or URL). */
export function nodeTransport(address: string, opts: NodeTransportOptions = {}): ClosableTransport {
  const baseUrl = baseUrlOf(address);
  const sessionManager = new Http2SessionManager(baseUrl, { idleConnectionTimeoutMs: 60_000 });
  const interceptors = [...(opts.interceptors ?? [])];
  if (opts.apiKey) interceptors.push(apiKeyInterceptor(opts.apiKey));
  const transport =
    opts.protocol === "connect"
      ? createConnectTransport({ baseUrl, httpVersion: "2", sessionManager, useBinaryFormat: true, interceptors, readMaxBytes: 32 << 20, writeMaxBytes: 32 << 20 })
      : createGrpcTransport({ baseUrl, sessionManager, interceptors, readMaxBytes: 32 << 20, writeMaxBytes: 32 << 20 });
  return { transport, close: () => sessionManager.abort() };
}

/** A gRPC transport to address; see nodeTransport for one you can close. */
export function grpcTransport(address: string, opts: Omit<NodeTransportOptions, "protocol"> = {}): Transport {
  return nodeTransport(address, opts).transport;
}

export interface NodeClientOptions extends NodeTransportOptions, Omit<MongogateClientOptions, "transport" | "instanceTransports" | "onClose"> {
  /**
   * Send a session's calls straight to the instance holding it (default
   * true): a connection per instance address. false sends every call to
   * address, whose instance forwards a session's calls to the owner.
   */
  routing?: boolean;
}

/**
 * Options for new MongogateClient: gRPC over HTTP/2 to address, with
 * per-instance routing, closing every connection on client.close().
 *
 *     const client = new MongogateClient(nodeClientOptions("localhost:50051"));
 */
export function nodeClientOptions(address: string, opts: NodeClientOptions = {}): MongogateClientOptions {
  const { apiKey, interceptors, protocol, routing, ...rest } = opts;
  const t = { apiKey, interceptors, protocol };
  const main = nodeTransport(address, t);
  const peers = new Map<string, ClosableTransport>();
  return {
    ...rest,
    transport: main.transport,
    instanceTransports:
      routing === false
        ? undefined
        : (instance: string) => {
            let p = peers.get(instance);
            if (!p) {
              p = nodeTransport(instance, t);
              peers.set(instance, p);
            }
            return p.transport;
          },
    onClose: () => {
      main.close();
      for (const p of peers.values()) p.close();
    },
  };
}

export * from "./index.js";
