// Test helper: the errno a store call failed with ("no error" if it did not), so a test can assert the exact refusal.
import { GfsError } from "@gfs/common";

export async function errnoOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof GfsError ? e.errno : `not a GfsError: ${(e as Error).message}`;
  }
  return "no error";
}
