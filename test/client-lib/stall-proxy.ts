// A TCP proxy between a client and the server that can stall: while stalled it forwards nothing in
// either direction (the bytes wait, the sockets stay open), as a congested or partitioned path does.

import net from "node:net";

export interface StallProxy {
  readonly url: string;
  /** Connections accepted so far. */
  readonly connections: () => number;
  stall(): void;
  resume(): void;
  /** Destroys every open connection (a network drop); new ones are accepted. */
  dropAll(): void;
  close(): Promise<void>;
}

export async function startStallProxy(targetPort: number): Promise<StallProxy> {
  let stalled = false;
  let accepted = 0;
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((inbound) => {
    accepted++;
    const outbound = net.connect(targetPort, "127.0.0.1");
    const pair: [net.Socket, net.Socket] = [inbound, outbound];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on("error", end).on("close", end);
    outbound.on("error", end).on("close", end);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    if (stalled) {
      inbound.pause();
      outbound.pause();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const dropAll = () => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
  };
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => accepted,
    stall() {
      stalled = true;
      for (const [a, b] of pairs) {
        a.pause();
        b.pause();
      }
    },
    resume() {
      stalled = false;
      for (const [a, b] of pairs) {
        a.resume();
        b.resume();
      }
    },
    dropAll,
    async close() {
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
