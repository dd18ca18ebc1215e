/**
 * Webhook signatures: its own entry point (`@app/api-client/webhooks`), since it
 * needs node:crypto and the main entry is bundled for the browser page too.
 */
export * from './lib/webhook-signature';
