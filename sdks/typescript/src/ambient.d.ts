// The few Node.js APIs this package uses, declared here so that building needs no `@types/node`. This file is
// not part of the published declarations.

declare module "node:crypto" {
  interface Hmac {
    update(data: string | Uint8Array): Hmac;
    digest(): Uint8Array;
    digest(encoding: "hex" | "base64"): string;
  }
  export function createHmac(algorithm: "sha256", key: string | Uint8Array): Hmac;
  export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean;
}

declare const process: { env: Record<string, string | undefined> } | undefined;
