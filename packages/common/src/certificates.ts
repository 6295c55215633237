// The cluster's certificate authority and the identity certificates it issues
// (format in peer.ts): EC P-256 keys, ECDSA-SHA256 signatures, made with
// @peculiar/x509 over WebCrypto, so no ASN.1 is written by hand here.
//
// Files: a CA dir holds ca.crt and ca.key; an identity dir holds ca.crt (the
// cluster CA, to verify peers), tls.crt and tls.key. Keys are 0600, dirs 0700.
import { createPrivateKey, webcrypto, X509Certificate as NodeX509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type * as X509 from "@peculiar/x509";
import { GfsError } from "./errors";
import { isRole, type Role } from "./peer";

let x509Module: typeof X509 | undefined;
/**
 * @peculiar/x509, loaded on first use: it is only needed to issue certificates,
 * and loading it costs every process (each `gfs` command) about 0.2 s of CPU.
 */
function x509(): typeof X509 {
  if (!x509Module) {
    x509Module = require("@peculiar/x509") as typeof X509;
    x509Module.cryptoProvider.set(webcrypto as never);
  }
  return x509Module;
}

const keyAlgorithm = { name: "ECDSA", namedCurve: "P-256" } as const;
const signingAlgorithm = { name: "ECDSA", hash: "SHA-256" } as const;

/** A CA lives long: every identity it signed stops working with it. */
export const caValidityDays = 3650;
/** Identities are re-issued yearly by default (`gfs cert issue --days`). */
export const identityValidityDays = 365;
/** Certificates are valid from a little before now, so a peer whose clock is slightly behind accepts them. */
const clockSkewMs = 5 * 60_000;

export interface Pem { certPem: string; keyPem: string }

export interface IdentitySpec {
  role: Role;
  /** CN: a chunkserver's server id, a user's or host's name. */
  name: string;
  /** Role user only (required there, refused elsewhere). */
  uid?: number;
  /** Role user only: primary group first. */
  gids?: number[];
  days?: number;
}

const namePattern = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** Refuses a spec that would make a certificate peerOfCertificate cannot read, with a one-line reason. */
export function checkIdentitySpec(spec: IdentitySpec): void {
  if (!isRole(spec.role)) throw new GfsError("EINVAL", `unknown role '${spec.role}' (master, chunkserver, mount, admin or user)`);
  if (!namePattern.test(spec.name)) throw new GfsError("EINVAL", `name '${spec.name}' must be 1-64 letters, digits, '.', '_', '@' or '-'`);
  const isId = (n: number) => Number.isInteger(n) && n >= 0 && n < 2 ** 32;
  if (spec.role === "user") {
    if (spec.uid === undefined) throw new GfsError("EINVAL", "a user certificate needs --uid");
    if (!isId(spec.uid)) throw new GfsError("EINVAL", `uid ${spec.uid} is not a user id`);
    // The master refuses a user certificate with no group (it cannot know the caller's primary gid),
    // so one without --gids would be useless: say so now, not at its first call.
    if (!spec.gids || spec.gids.length === 0) throw new GfsError("EINVAL", "a user certificate needs --gids (its primary group first, e.g. --gids 1000,27)");
    for (const g of spec.gids) if (!isId(g)) throw new GfsError("EINVAL", `gid ${g} is not a group id`);
  } else if (spec.uid !== undefined || (spec.gids && spec.gids.length)) {
    throw new GfsError("EINVAL", `only a user certificate carries --uid/--gids (role is ${spec.role})`);
  }
  if (spec.days !== undefined && (!Number.isInteger(spec.days) || spec.days < 1)) throw new GfsError("EINVAL", `--days must be a whole number of at least 1, got ${spec.days}`);
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(keyAlgorithm, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  return x509().PemConverter.encode(der, "PRIVATE KEY");
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - clockSkewMs), notAfter: new Date(now + days * 86_400_000) };
}

/** A new self-signed CA (CN=gfs-ca, O=gfs). */
export async function createCa(days = caValidityDays): Promise<Pem> {
  const keys = await newKeys();
  const cert = await x509().X509CertificateGenerator.createSelfSigned({
    name: "CN=gfs-ca, O=gfs", keys: keys as never, signingAlgorithm, ...validity(days),
    extensions: [
      new (x509().BasicConstraintsExtension)(true, 0, true),
      new (x509().KeyUsagesExtension)(x509().KeyUsageFlags.keyCertSign | x509().KeyUsageFlags.cRLSign, true),
      await x509().SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await keyPem(keys.privateKey) };
}

/** An identity certificate and its new key, signed by `ca`. */
export async function issueIdentity(ca: Pem, spec: IdentitySpec): Promise<Pem> {
  checkIdentitySpec(spec);
  const caCert = new (x509().X509Certificate)(ca.certPem);
  const caDer = createPrivateKey(ca.keyPem).export({ format: "der", type: "pkcs8" });
  const caKey = await webcrypto.subtle.importKey("pkcs8", caDer, keyAlgorithm, false, ["sign"]);
  const keys = await newKeys();
  const uris = spec.role === "user"
    ? [`urn:gfs:uid:${spec.uid}`, ...(spec.gids ?? []).map((g) => `urn:gfs:gid:${g}`)].map((value) => ({ type: "url" as const, value }))
    : [];
  const cert = await x509().X509CertificateGenerator.create({
    subject: `CN=${spec.name}, OU=${spec.role}, O=gfs`,
    issuer: caCert.subject,
    publicKey: keys.publicKey as never,
    signingKey: caKey as never,
    signingAlgorithm,
    ...validity(spec.days ?? identityValidityDays),
    extensions: [
      new (x509().BasicConstraintsExtension)(false, undefined, true),
      new (x509().KeyUsagesExtension)(x509().KeyUsageFlags.digitalSignature, true),
      new (x509().ExtendedKeyUsageExtension)([x509().ExtendedKeyUsage.serverAuth, x509().ExtendedKeyUsage.clientAuth]),
      await x509().AuthorityKeyIdentifierExtension.create(caCert, false),
      ...(uris.length ? [new (x509().SubjectAlternativeNameExtension)(uris)] : []),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await keyPem(keys.privateKey) };
}

/** Writes `data` to `path` with `mode`, atomically (no half-written key is ever seen). */
function writePrivate(path: string, data: string, mode: number): void {
  writeFileSync(`${path}.tmp`, data, { mode });
  chmodSync(`${path}.tmp`, mode);
  renameSync(`${path}.tmp`, path);
}

function makeDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** `gfs ca init DIR`: a new CA in DIR; refuses to overwrite one (every identity it signed would stop working). */
export async function initCaDir(dir: string, days = caValidityDays): Promise<void> {
  for (const f of ["ca.crt", "ca.key"]) {
    if (existsSync(join(dir, f))) throw new GfsError("EEXIST", `${join(dir, f)} exists: refusing to replace the cluster's CA`);
  }
  writeCaDir(dir, await createCa(days));
}

/** Reads a CA dir; a missing or unreadable file is a one-line error naming it. */
export function readCaDir(dir: string): Pem {
  const read = (f: string) => {
    try {
      return readFileSync(join(dir, f), "utf8");
    } catch (e) {
      throw credentialError(join(dir, f), e);
    }
  };
  return { certPem: read("ca.crt"), keyPem: read("ca.key") };
}

/** `gfs cert issue`: a new identity from the CA in `caDir`, written to `outDir` (ca.crt, tls.crt, tls.key). */
export async function issueToDir(caDir: string, spec: IdentitySpec, outDir: string): Promise<void> {
  checkIdentitySpec(spec);
  const ca = readCaDir(caDir);
  writeIdentityDir(outDir, ca.certPem, await issueIdentity(ca, spec));
}

/** Writes an identity dir: ca.crt (the CA to verify peers with), tls.crt, tls.key (0600) in a 0700 dir. */
export function writeIdentityDir(outDir: string, caCertPem: string, id: Pem): void {
  makeDir(outDir);
  writePrivate(join(outDir, "tls.key"), id.keyPem, 0o600);
  writePrivate(join(outDir, "tls.crt"), id.certPem, 0o644);
  writePrivate(join(outDir, "ca.crt"), caCertPem, 0o644);
}

/** Writes a CA dir (ca.crt, ca.key 0600) for a CA made with createCa. */
export function writeCaDir(dir: string, ca: Pem): void {
  makeDir(dir);
  writePrivate(join(dir, "ca.key"), ca.keyPem, 0o600);
  writePrivate(join(dir, "ca.crt"), ca.certPem, 0o644);
}

/** A credential file that cannot be used; its message is one line naming the file and why. */
export class CredentialError extends Error {}

/** "cannot read FILE: permission denied (EACCES)": which file and why, on one line. */
export function credentialError(file: string, e: unknown): CredentialError {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  const why: Record<string, string> = {
    ENOENT: "no such file", EACCES: "permission denied", EPERM: "operation not permitted", EISDIR: "is a directory", ENOTDIR: "not a directory",
  };
  const reason = why[code] ?? (e as Error).message.split("\n")[0];
  return new CredentialError(`cannot read ${file}: ${reason}${code ? ` (${code})` : ""}`);
}

/** Whether `certPem` was signed by the CA `caPem` (and is within its validity). */
export function verifiesAgainst(certPem: string, caPem: string, now = new Date()): boolean {
  const cert = new NodeX509Certificate(certPem);
  const ca = new NodeX509Certificate(caPem);
  return cert.checkIssued(ca) && cert.verify(ca.publicKey) && new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);
}
