// The Vitessce page of Bioblocks: /vitessce/?config=<URL of a view configuration>.
// Bundled with React by build.sh (esbuild); served from this server, no CDN.
import React from "react";
import { createRoot } from "react-dom/client";
import { Vitessce } from "vitessce";

const status = document.getElementById("status");

async function main() {
  const url = new URLSearchParams(window.location.search).get("config");
  if (!url) {
    status.textContent = "Give a configuration: /vitessce/?config=analysis/<id>/vitessce.json";
    return;
  }
  const answer = await fetch(new URL(url, window.location.origin), { credentials: "same-origin" });
  if (!answer.ok) {
    status.textContent = `The configuration ${url} could not be read (HTTP ${answer.status}).`;
    return;
  }
  const config = await answer.json();
  status.textContent = config.name || "";
  // For tests and the curious: the configuration as loaded and as the user changed it.
  window.vitessceConfig = config;
  createRoot(document.getElementById("root")).render(
    React.createElement(Vitessce, {
      config,
      height: Math.max(400, window.innerHeight - status.offsetHeight - 8),
      theme: "light",
      onConfigChange: (changed) => { window.vitessceState = changed; },
    }),
  );
}

main().catch((error) => { status.textContent = `Vitessce could not start: ${error}`; });
