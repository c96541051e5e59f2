// btool as a library: public re-exports of lib/. No side effects.

export * from "./lib/errors.ts";
export * from "./lib/bytes.ts";
export * from "./lib/bencode.ts";
export * from "./lib/sha1.ts";
export * from "./lib/infohash.ts";
export * from "./lib/metainfo.ts";
export * from "./lib/pieces.ts";
export * from "./lib/file_map.ts";
export * from "./lib/storage/storage.ts";
