// A process's TLS credentials: an identity dir (ca.crt, tls.crt, tls.key, as
// `gfs cert issue` writes it), loaded once at start, and where the CLI looks
// for one when no --tls-dir is given.
//
// Like ssh with a private key, a tls.key that group or others may read is
// refused, not just warned about: anyone who can read it can act as this
// identity (for an admin key, do anything to the cluster).
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { CredentialError, credentialError } from "./certificates";
import { peerOfCertificate, type Peer } from "./peer";

export interface TlsIdentity {
  dir: string;
  /** The cluster CA: peers must present a certificate it signed. */
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** What this process's own certificate says it is. */
  self: Peer;
}

const dnField = (dn: string) => {
  const out: Record<string, string> = {};
  for (const line of dn.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
};

/** The peer a certificate (PEM) names, read as a TLS peer's would be. */
export function peerOfPem(pem: Buffer | string): Peer {
  const c = new X509Certificate(pem);
  return peerOfCertificate({ subject: dnField(c.subject), subjectaltname: c.subjectAltName ?? "" } as never);
}

function readCredential(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw credentialError(file, e);
  }
}

/** Loads the identity in `dir`; any problem is one line naming the file and why. */
export function loadTlsIdentity(dir: string): TlsIdentity {
  const caFile = join(dir, "ca.crt");
  const certFile = join(dir, "tls.crt");
  const keyFile = join(dir, "tls.key");
  const ca = readCredential(caFile);
  const cert = readCredential(certFile);
  const key = readCredential(keyFile);
  const mode = statSync(keyFile).mode & 0o777;
  if (mode & 0o077) {
    throw new CredentialError(`${keyFile} is readable by others (mode ${mode.toString(8).padStart(4, "0")}): refusing to use it; chmod 600 ${keyFile}`);
  }
  let caCert: X509Certificate;
  let ownCert: X509Certificate;
  try { caCert = new X509Certificate(ca); } catch { throw new CredentialError(`${caFile} is not a PEM certificate`); }
  try { ownCert = new X509Certificate(cert); } catch { throw new CredentialError(`${certFile} is not a PEM certificate`); }
  if (!ownCert.checkIssued(caCert) || !ownCert.verify(caCert.publicKey)) throw new CredentialError(`${certFile} was not issued by the CA in ${caFile}`);
  try {
    if (!ownCert.checkPrivateKey(createPrivateKey(key))) throw new Error("mismatch");
  } catch {
    throw new CredentialError(`${keyFile} is not the private key of ${certFile}`);
  }
  const now = Date.now();
  if (now > Date.parse(ownCert.validTo)) throw new CredentialError(`${certFile} expired on ${ownCert.validTo}; issue a new one (gfs cert issue)`);
  let self: Peer;
  try { self = peerOfPem(cert); } catch (e) { throw new CredentialError(`${certFile}: ${(e as Error).message.replace(/^E[A-Z]+: /, "")}`); }
  return { dir, ca, cert, key, self };
}

/** Where the CLI looks for its identity, in order, when no --tls-dir is given. */
export function defaultTlsDirs(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0, home = homedir()): string[] {
  const dirs: string[] = [];
  if (env.GFS_TLS_DIR) dirs.push(env.GFS_TLS_DIR);
  if (uid === 0) dirs.push(join(env.GFS_HOME || join(home, ".gfs"), "tls", "admin"), "/etc/gfs/tls");
  else dirs.push(join(home, ".config", "gfs"));
  return dirs;
}

/** The CLI's identity: `tlsDir` if given, else the first default dir that holds one; else a one-line error saying where it looked. */
export function findTlsIdentity(tlsDir?: string, candidates = defaultTlsDirs()): TlsIdentity {
  if (tlsDir) return loadTlsIdentity(tlsDir);
  const found = candidates.find((d) => existsSync(join(d, "tls.crt")) || existsSync(join(d, "tls.key")));
  if (found) return loadTlsIdentity(found);
  throw new CredentialError(`no TLS identity (ca.crt, tls.crt, tls.key) in ${candidates.join(", ")}; `
    + "pass --tls-dir DIR or set GFS_TLS_DIR, or ask the cluster's admin for one (gfs cert issue --role user --uid UID ...)");
}
