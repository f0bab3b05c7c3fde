/** Where the dashboard's client bundle is written (`dist/public/client.js`). */
export declare const CLIENT_BUNDLE: string;
/** Bundles @x/client's source for the browser into {@link CLIENT_BUNDLE}. */
export declare function bundleClient(): Promise<void>;
