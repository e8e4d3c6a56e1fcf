/* Passkeys (WebAuthn): our own script, no libraries.
 *
 * The server issues every challenge (a POST answering the options for navigator.credentials) and
 * checks every answer; this script only carries them between the server and the browser.
 *
 * - A button with data-passkey-assert (inside a form with a hidden "passkey" input): ask the server
 *   at data-passkey-options-url for a challenge, let a passkey sign it, put the answer in the form's
 *   "passkey" input and submit the form (approve a correction, remove a passkey, set up an app).
 * - A form with data-passkey-register: on submit, prove a passkey held (data-passkey-prove-url, if
 *   any), ask data-begin-url for creation options, create the passkey, and send it with the form's
 *   "name" to data-complete-url, which answers where to go next.
 *
 * Elements marked data-passkey stay hidden where the browser has no passkeys (or no script): the
 * page then offers the authenticator app's code, which works without this script.
 */
(function () {
  "use strict";

  if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
    return;
  }

  function toBuffer(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var padded = base64 + "===".slice((base64.length + 3) % 4);
    var binary = window.atob(padded);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    if (!buffer) {
      return null;
    }
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return window.btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(descriptors) {
    return (descriptors || []).map(function (descriptor) {
      return Object.assign({}, descriptor, { id: toBuffer(descriptor.id) });
    });
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function say(form, text) {
    var status = form.querySelector("[data-passkey-status]");
    if (status) {
      status.textContent = text;
    }
  }

  function refusalText(body) {
    var parts = [body.detail || "The server refused."];
    var fields = body.fields || {};
    Object.keys(fields).forEach(function (name) {
      (fields[name] || []).forEach(function (message) {
        if (parts.indexOf(message) === -1) {
          parts.push(message);
        }
      });
    });
    return parts.join(" ");
  }

  // POST the form data to url; resolve with the JSON answer, reject with a sentence for a person.
  function post(url, form, data) {
    data.set("csrfmiddlewaretoken", csrfToken(form));
    return window.fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken(form) }
    }).then(function (response) {
      return response.json().catch(function () {
        return { detail: "The server answered " + response.status + "." };
      }).then(function (body) {
        if (!response.ok) {
          throw new Error(refusalText(body));
        }
        return body;
      });
    });
  }

  function browserRefusal(error) {
    if (error && error.name === "NotAllowedError") {
      return "The passkey was not used (cancelled or timed out). Try again, or use your authenticator app's code.";
    }
    return (error && error.message) || "The passkey did not work. Use your authenticator app's code instead.";
  }

  // Ask the server for a challenge, let a passkey sign it; resolve with the answer as JSON text.
  function signChallenge(url, form) {
    return post(url, form, new FormData()).then(function (options) {
      var publicKey = Object.assign({}, options, {
        challenge: toBuffer(options.challenge),
        allowCredentials: withIds(options.allowCredentials)
      });
      return navigator.credentials.get({ publicKey: publicKey });
    }).then(function (credential) {
      return JSON.stringify({
        id: credential.id,
        rawId: toBase64url(credential.rawId),
        type: credential.type,
        authenticatorAttachment: credential.authenticatorAttachment || null,
        clientExtensionResults: credential.getClientExtensionResults(),
        response: {
          authenticatorData: toBase64url(credential.response.authenticatorData),
          clientDataJSON: toBase64url(credential.response.clientDataJSON),
          signature: toBase64url(credential.response.signature),
          userHandle: toBase64url(credential.response.userHandle)
        }
      });
    });
  }

  function submit(form) {
    if (form.requestSubmit) {
      form.requestSubmit();
    } else {
      form.submit();
    }
  }

  function assertAndSubmit(button) {
    var form = button.form;
    var field = form.querySelector("input[name=passkey]");
    button.disabled = true;
    say(form, "Waiting for your passkey…");
    signChallenge(button.getAttribute("data-passkey-options-url"), form).then(function (answer) {
      field.value = answer;
      say(form, "Passkey used. Sending…");
      submit(form);
    }).catch(function (error) {
      button.disabled = false;
      say(form, browserRefusal(error));
    });
  }

  function register(form) {
    var button = form.querySelector("button[type=submit]");
    var proveUrl = form.getAttribute("data-passkey-prove-url");
    var proof = form.querySelector("input[name=passkey]");
    button.disabled = true;
    say(form, proveUrl ? "First confirm with a passkey you already have…" : "Preparing…");
    var proved = proveUrl ? signChallenge(proveUrl, form) : Promise.resolve("");
    proved.then(function (answer) {
      proof.value = answer;
      return post(form.getAttribute("data-begin-url"), form, new FormData(form));
    }).then(function (options) {
      say(form, "Follow your browser's prompt to create the passkey…");
      var publicKey = Object.assign({}, options, {
        challenge: toBuffer(options.challenge),
        user: Object.assign({}, options.user, { id: toBuffer(options.user.id) }),
        excludeCredentials: withIds(options.excludeCredentials)
      });
      return navigator.credentials.create({ publicKey: publicKey });
    }).then(function (credential) {
      var response = credential.response;
      var data = new FormData();
      data.set("name", form.querySelector("input[name=name]").value);
      data.set("answer", JSON.stringify({
        id: credential.id,
        rawId: toBase64url(credential.rawId),
        type: credential.type,
        authenticatorAttachment: credential.authenticatorAttachment || null,
        clientExtensionResults: credential.getClientExtensionResults(),
        response: {
          attestationObject: toBase64url(response.attestationObject),
          clientDataJSON: toBase64url(response.clientDataJSON),
          transports: response.getTransports ? response.getTransports() : []
        }
      }));
      return post(form.getAttribute("data-complete-url"), form, data);
    }).then(function (done) {
      window.location.assign(done.redirect);
    }).catch(function (error) {
      proof.value = "";
      button.disabled = false;
      say(form, browserRefusal(error));
    });
  }

  document.querySelectorAll("[data-passkey]").forEach(function (element) {
    element.hidden = false;
  });
  document.querySelectorAll("[data-passkey-unsupported]").forEach(function (element) {
    element.hidden = true;
  });
  document.querySelectorAll("button[data-passkey-assert]").forEach(function (button) {
    button.addEventListener("click", function () {
      assertAndSubmit(button);
    });
  });
  document.querySelectorAll("form[data-passkey-register]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      register(form);
    });
  });
})();
