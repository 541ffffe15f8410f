// The API reference: openapi.yaml in Swagger UI, served offline, with "Try it out" against
// this runtime under a token minted by /_local/token.
const ui = SwaggerUIBundle({
  url: '/openapi.yaml',
  dom_id: '#swagger',
  // A deep link is an anchor inside the operation's toggle button: nested controls, which a
  // keyboard or screen reader user cannot reach apart.
  deepLinking: false,
  tryItOutEnabled: false,
  persistAuthorization: false,
  validatorUrl: null,
  // openapi.yaml names port 3000; the runtime may serve on another.
  requestInterceptor: (request) => {
    const url = new URL(request.url, location.href);
    url.protocol = location.protocol;
    url.host = location.host;
    request.url = url.toString();
    return request;
  },
});

async function useToken(event) {
  if (event) event.preventDefault();
  const org = document.getElementById('token-org').value || 'demo';
  const role = document.getElementById('token-role').value;
  const plan = document.getElementById('token-plan').value;
  const state = document.getElementById('token-state');
  const query = new URLSearchParams({ org, role, plan, name: `Docs ${role}`, sub: `docs-${role}` });
  const response = await fetch(`/_local/token?${query}`);
  const body = await response.json();
  if (!response.ok) {
    state.textContent = body.error.message;
    return;
  }
  ui.preauthorizeApiKey('bearer', body.token);
  state.textContent = `Authorized as ${role} of ${org} (${plan} plan).`;
}

document.getElementById('try-token').addEventListener('submit', useToken);
useToken();

// Swagger UI's code blocks scroll but take no focus: a keyboard user could not scroll them.
// Its server picker has no label either.
new MutationObserver(() => {
  for (const block of document.querySelectorAll('#swagger pre:not([tabindex]), #swagger .curl:not([tabindex])')) {
    block.setAttribute('tabindex', '0');
  }
  // Its server picker has no label.
  const servers = document.getElementById('servers');
  if (servers && !servers.hasAttribute('aria-label')) servers.setAttribute('aria-label', 'Server');
}).observe(document.getElementById('swagger'), { childList: true, subtree: true });
