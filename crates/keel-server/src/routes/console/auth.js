// The pages the default auth emails link to (`/_/#/auth/<action>/<token>`, PocketBase's links):
// confirm an email address, choose a new password, confirm an email change. Each posts the
// token to the collection's API; the collection comes from the token's own claims.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var match = /^#\/auth\/(confirm-verification|confirm-password-reset|confirm-email-change)\/([^/?#]+)/.exec(location.hash);
  if (!match) { return; }
  var action = match[1];
  var token = decodeURIComponent(match[2]);

  function claims(t) {
    try {
      var part = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      while (part.length % 4) { part += "="; }
      return JSON.parse(atob(part));
    } catch (e) { return null; }
  }
  function say(text, ok) {
    var m = $("message");
    m.textContent = text;
    m.className = ok ? "ok" : "err";
  }
  var c = claims(token);
  if (!c || !c.collectionId) {
    $("title").textContent = "Invalid link";
    $("intro").textContent = "This link is incomplete or damaged. Ask for a new email.";
    return;
  }
  function post(body) {
    return fetch("/api/collections/" + encodeURIComponent(c.collectionId) + "/" + action, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      if (r.status === 204 || r.ok) { return null; }
      return r.json().then(function (e) {
        var fields = e && e.data ? Object.keys(e.data).map(function (k) { return k + ": " + e.data[k].message; }) : [];
        return (e && e.message ? e.message : "The request failed.") + (fields.length ? " " + fields.join(" ") : "");
      }, function () { return "The request failed (" + r.status + ")."; });
    }, function () { return "Keel could not be reached. Try again."; });
  }

  $("intro").textContent = "";
  if (action === "confirm-verification") {
    $("title").textContent = "Verifying your email…";
    post({ token: token }).then(function (err) {
      $("title").textContent = err ? "Verification failed" : "Email verified";
      say(err || "Your email address is verified. You can close this page.", !err);
    });
    return;
  }
  var form = $("form");
  form.hidden = false;
  if (action === "confirm-email-change") {
    $("title").textContent = "Confirm your new email";
    $("password-label").textContent = "Your password";
    $("password").autocomplete = "current-password";
    $("confirm-row").hidden = true;
    $("submit").textContent = "Confirm";
  } else {
    $("title").textContent = "Choose a new password";
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = { token: token, password: $("password").value };
    if (action === "confirm-password-reset") {
      body.passwordConfirm = $("password-confirm").value;
    }
    $("submit").disabled = true;
    post(body).then(function (err) {
      $("submit").disabled = false;
      if (!err) {
        form.hidden = true;
        say(action === "confirm-email-change" ? "Your email address is changed. Sign in with the new one."
                                              : "Your password is changed. Sign in with the new one.", true);
      } else {
        say(err, false);
      }
    });
  });
})();
