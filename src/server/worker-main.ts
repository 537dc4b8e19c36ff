import { runWorker } from "./worker.js";

/**
 * Entry point of a CreateCertificate worker process: bin/meshsign.js runs
 * this module instead of the command line in processes that `meshsign serve`
 * forks. It loads only the CreateCertificate stack (worker.ts and what it
 * imports); the primary sends the validated configuration with the CA.
 */
runWorker();
