#!/usr/bin/env bash
# Build the Vitessce page into dist/ (ignored by git): Vitessce's npm package, which ships
# bundled ES modules, plus React, bundled by esbuild. Needs node and npm (the npm registry).
# `vitessce` is fetched with `npm pack` (its bundle only): installing its dependency tree
# would fetch a GitHub tarball of one of its icon sets, which is not a registry package.
# three.js and @react-three/* (Vitessce's 3-D views, loaded only by them) stay external.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(node -p "require('$here/package.json').vitessce")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/entry.js" "$work/"
cd "$work"
npm install --no-audit --no-fund --loglevel=error
npm pack --silent "vitessce@$version" >/dev/null
mkdir -p node_modules/vitessce
tar xzf "vitessce-$version.tgz" -C node_modules/vitessce --strip-components=1
./node_modules/.bin/esbuild entry.js --bundle --format=esm --splitting --minify \
  --outdir=out --define:process.env.NODE_ENV='"production"' --log-level=warning \
  --external:three --external:'three/*' --external:'@react-three/*' --external:d3-zoom
cp node_modules/vitessce/LICENSE out/VITESSCE-LICENSE.txt
echo "$version" > out/VERSION
rm -rf "$here/dist.partial"
mv out "$here/dist.partial"
rm -rf "$here/dist"
mv "$here/dist.partial" "$here/dist"
echo "Vitessce $version built into $here/dist ($(du -sh "$here/dist" | cut -f1))"
