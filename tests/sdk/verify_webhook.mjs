// Verifies captured webhook deliveries with the Standard Webhooks reference library.
// Reads `[{secret, headers, body}]` as JSON on stdin; prints one line per delivery, `ok` or
// `invalid: <why>`, and exits 1 unless every one verified.
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) input += chunk;
let failed = false;
for (const { secret, headers, body } of JSON.parse(input)) {
  try {
    new Webhook(secret).verify(body, headers);
    console.log("ok");
  } catch (e) {
    failed = true;
    console.log(`invalid: ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);
