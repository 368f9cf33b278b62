import { useState, type FormEvent } from "react";
import { decodeClaims, isExpired } from "../lib/session";

export function SignIn({
  onSignIn,
  notice,
}: {
  onSignIn: (token: string) => void;
  notice: string | null;
}) {
  const [value, setValue] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const token = value.trim();
    const claims = decodeClaims(token);
    if (!claims) {
      setProblem("That is not a token (a JWT has three parts separated by dots).");
      return;
    }
    if (isExpired(claims)) {
      setProblem("That token has expired: get a new one.");
      return;
    }
    onSignIn(token);
  };
  return (
    <div className="sign-in" data-testid="sign-in">
      <form onSubmit={submit} className="sign-in-card">
        <h1>Clinical hub console</h1>
        {notice && (
          <p className="notice" role="alert" data-testid="sign-in-notice">
            {notice}
          </p>
        )}
        <label htmlFor="token">Access token</label>
        <textarea
          id="token"
          data-testid="token-input"
          value={value}
          onChange={(e) => {
            setValue(e.target.value);
            setProblem(null);
          }}
          rows={5}
          spellCheck={false}
          autoComplete="off"
          placeholder="eyJhbGciOi..."
        />
        {problem && (
          <p className="error" role="alert" data-testid="sign-in-error">
            {problem}
          </p>
        )}
        <button type="submit" data-testid="sign-in-button" disabled={!value.trim()}>
          Sign in
        </button>
        <p className="hint">
          Development: paste a token from <code>hub token --sub nurse-1 --role nurse --hospital H1</code>.
          It is kept for this browser tab only.
        </p>
      </form>
    </div>
  );
}
