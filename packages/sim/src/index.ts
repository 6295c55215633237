export { simulate, faultKinds, type FaultKind, type SimOptions, type SimResult } from "./run";
export { World, Proc } from "./world";
export { Rng } from "./rng";
