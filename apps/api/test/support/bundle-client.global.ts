// vitest globalSetup: the dashboard's /client.js is a build output (scripts/bundle-client.mjs);
// the tests run the api from its source, so bundle it once before they start.
import { bundleClient } from '../../scripts/bundle-client.mjs';

export default async function setup() {
  await bundleClient();
}
