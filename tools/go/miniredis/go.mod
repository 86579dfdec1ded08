// The Redis of the rehearsal's Argo CD: a small main around github.com/alicebob/miniredis/v2 at
// the version the pinned Argo CD release uses. lib/tools.ts builds it (`deno task tools`).
module homelab.invalid/tools/miniredis

go 1.26.0

require github.com/alicebob/miniredis/v2 v2.39.0

require github.com/yuin/gopher-lua v1.1.1 // indirect
