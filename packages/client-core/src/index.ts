export * from "./gfs-client";
export * from "./chunk-ranges";
export * from "./replica-order";
export * from "./retry";
export * from "./status-format";
export * from "./read-layout";
