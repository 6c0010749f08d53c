// Types for the part of hpack.js (no published typings) the first-HEADERS reader uses.

declare module "hpack.js" {
  interface Header {
    readonly name: string;
    readonly value: string;
  }
  interface Decompressor {
    write(chunk: Buffer): boolean;
    execute(): void;
    read(): Header | null;
    on(event: "error", listener: (e: Error) => void): this;
  }
  interface Compressor {
    write(headers: readonly Header[]): boolean;
    read(): Buffer;
  }
  const hpack: {
    readonly decompressor: { create(options: { table: { size: number } }): Decompressor };
    /** For tests that speak HTTP/2 frames by hand. */
    readonly compressor: { create(options: { table: { size: number } }): Compressor };
  };
  export default hpack;
}
