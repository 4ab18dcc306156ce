// The standalone server's entry point: scripts/standalone-assets.mjs installs this file as
// .next/standalone/server.js and moves Next's own server.js beside it as next-server.js, so that
// `node server.js` (the image's and the chart's command) runs it.
//
// On SIGTERM Next 16 already shuts down gracefully (stops accepting connections, lets in-flight
// requests finish), then exits 143 on purpose, which Kubernetes records as a failed container
// (every deleted or rolled pod ends Failed/Error). A shutdown that was asked for and completed
// is a success: exit 0.
"use strict";

let terminating = false;
process.on("SIGTERM", () => {
  terminating = true;
  // During start-up, before Next has added its own handler, nothing else would end the process.
  if (process.listenerCount("SIGTERM") === 1) process.exit(0);
});
process.on("exit", (code) => {
  // process.exit(143) from Next's handler ends here; the exit code is still ours to set.
  if (terminating && code === 143) process.exitCode = 0;
});

import("./next-server.js");
