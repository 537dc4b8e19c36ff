import { isMeshsignError } from "../../src/errors/index.js";
import { type ConfigSources, loadConfig } from "../../src/server/config.js";

/** The message of the ERR_CONFIG_INVALID that loadConfig throws for `sources`; fails when it loads. */
export function configRefusal(sources: ConfigSources): string {
  try {
    loadConfig(sources);
  } catch (err) {
    if (isMeshsignError(err, "ERR_CONFIG_INVALID")) return err.message;
    throw err;
  }
  throw new Error("expected the configuration to be refused");
}
