// esbuild's binary loader turns an imported .binpb file into its bytes.
declare module "*.binpb" {
  const bytes: Uint8Array;
  export default bytes;
}
