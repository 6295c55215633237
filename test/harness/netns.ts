// Test hosts in network namespaces of our own: each host gets a namespace
// with one veth link to a bridge that lives in a namespace of its own, so
// nothing touches the machine's real network. Addresses are private to these
// namespaces; links can be cut (`ip link set down`) to partition a host.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
const ip = (...args: string[]) => run("ip", args);

export interface TestHost {
  name: string;
  netns: string;
  address: string;
  /** Command prefix that runs a program on this host. */
  exec: string[];
}

export class TestNetwork {
  readonly hosts = new Map<string, TestHost>();
  private readonly bridgeNs: string;
  private created: string[] = [];
  private nextOctet = 1;

  private constructor(readonly id: string, private readonly subnet: string) {
    this.bridgeNs = `gfs${id}br`;
  }

  /** True when this machine lets us make namespaces (root, iproute2). */
  static async available(): Promise<boolean> {
    try {
      const probe = `gfsprobe${process.pid}`;
      await ip("netns", "add", probe);
      await ip("netns", "del", probe);
      return true;
    } catch {
      return false;
    }
  }

  static async create(): Promise<TestNetwork> {
    const id = `${process.pid % 100000}`;
    // 10.200.X.0/24 inside our own namespaces only; X varies per run so parallel runs do not meet.
    const net = new TestNetwork(id, `10.200.${process.pid % 250}`);
    await ip("netns", "add", net.bridgeNs);
    net.created.push(net.bridgeNs);
    await ip("-n", net.bridgeNs, "link", "add", "br0", "type", "bridge");
    await ip("-n", net.bridgeNs, "link", "set", "br0", "up");
    return net;
  }

  async addHost(name: string): Promise<TestHost> {
    const netns = `gfs${this.id}${name}`;
    const octet = this.nextOctet++;
    const address = `${this.subnet}.${octet}`;
    const outer = `g${this.id}${name}`.slice(0, 15);
    await ip("netns", "add", netns);
    this.created.push(netns);
    await ip("-n", netns, "link", "set", "lo", "up");
    await ip("-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", outer, "netns", this.bridgeNs);
    await ip("-n", netns, "addr", "add", `${address}/24`, "dev", "eth0");
    await ip("-n", netns, "link", "set", "eth0", "up");
    await ip("-n", this.bridgeNs, "link", "set", outer, "master", "br0");
    await ip("-n", this.bridgeNs, "link", "set", outer, "up");
    const host = { name, netns, address, exec: ["ip", "netns", "exec", netns] };
    this.hosts.set(name, host);
    return host;
  }

  /** Cuts (or restores) a host's only link. */
  async setLink(name: string, up: boolean): Promise<void> {
    const host = this.hosts.get(name)!;
    await ip("-n", host.netns, "link", "set", "eth0", up ? "up" : "down");
  }

  async destroy(): Promise<void> {
    for (const ns of this.created.reverse()) await ip("netns", "del", ns).catch(() => {});
    this.created = [];
  }
}
