export * from "./status-format";
