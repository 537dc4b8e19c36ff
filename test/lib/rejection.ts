/**
 * The MeshsignError a promise rejects with; fails the test when the promise
 * resolves, and rethrows any other error as it is.
 */
import { isMeshsignError, type MeshsignError } from "../../src/errors/index.js";

export async function rejection(p: Promise<unknown>): Promise<MeshsignError> {
  try {
    await p;
  } catch (err) {
    if (isMeshsignError(err)) return err;
    throw err;
  }
  throw new Error("expected a rejection");
}
