using System.Net;
using System.Security.Cryptography;
using Spegel.Oci;
using Spegel.Registry;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Registry;

/// <summary>The receiving side of peer proofs (<see cref="PeerAuthenticator"/>): key, host, clock skew, replays.</summary>
public sealed class PeerAuthenticatorTests
{
    private static readonly PeerKey Key = PeerKey.FromSwarmKey(RandomNumberGenerator.GetBytes(32));
    private static readonly IPAddress Local = IPAddress.Parse("10.0.0.5");
    private const string Host = "10.0.0.5:5000";
    private const string Target = "/v2/x/blobs/sha256:1111111111111111111111111111111111111111111111111111111111111111";
    private readonly ManualTime _time = new();

    private string Proof(DateTimeOffset? at = null, string host = Host, PeerKey? key = null) =>
        PeerProof.Create(key ?? Key, "GET", host, Target, at ?? _time.GetUtcNow(), RandomNumberGenerator.GetBytes(PeerProof.NonceBytes));

    private ProofStatus Check(PeerAuthenticator authenticator, string header, string host = Host, IPAddress? local = null) =>
        authenticator.Check(header, "GET", host, Target, local ?? Local);

    [Fact]
    public void AFreshProofForThisNodeIsValidOnceThenAReplay()
    {
        var authenticator = new PeerAuthenticator(Key, FixedNodeAddresses.None, _time);
        string proof = Proof();
        Assert.Equal(ProofStatus.Valid, Check(authenticator, proof));
        Assert.Equal(ProofStatus.Replayed, Check(authenticator, proof));
        Assert.Equal(ProofStatus.Valid, Check(authenticator, Proof()));
        Assert.True(authenticator.ProofRequired);
    }

    [Fact]
    public void TheClockSkewIsBoundedBothWays()
    {
        var authenticator = new PeerAuthenticator(Key, FixedNodeAddresses.None, _time);
        var now = _time.GetUtcNow();
        Assert.Equal(ProofStatus.Valid, Check(authenticator, Proof(now - PeerAuthenticator.MaxSkew)));
        Assert.Equal(ProofStatus.Valid, Check(authenticator, Proof(now + PeerAuthenticator.MaxSkew)));
        Assert.Equal(ProofStatus.Expired, Check(authenticator, Proof(now - PeerAuthenticator.MaxSkew - TimeSpan.FromSeconds(1))));
        Assert.Equal(ProofStatus.Expired, Check(authenticator, Proof(now + PeerAuthenticator.MaxSkew + TimeSpan.FromSeconds(1))));

        // A proof replayed after its window is refused by its time, though its nonce was forgotten.
        string proof = Proof();
        Assert.Equal(ProofStatus.Valid, Check(authenticator, proof));
        _time.Advance(PeerAuthenticator.MaxSkew + TimeSpan.FromSeconds(1));
        Assert.Equal(ProofStatus.Expired, Check(authenticator, proof));
    }

    [Fact]
    public void AProofAddressedToAnotherNodeIsInvalidHere()
    {
        // What a peer that received our proof would try: replaying it at another node holding the content.
        var authenticator = new PeerAuthenticator(Key, new FixedNodeAddresses(IPAddress.Parse("fd77:77::5")), _time);
        Assert.Equal(ProofStatus.Invalid, Check(authenticator, Proof(host: "10.0.0.9:5000"), host: "10.0.0.9:5000"));
        Assert.Equal(ProofStatus.Invalid, Check(authenticator, Proof(), local: IPAddress.Parse("10.0.0.9")));
        Assert.Equal(ProofStatus.Valid, Check(authenticator, Proof(), local: IPAddress.Parse("::ffff:10.0.0.5")));

        // Another address of this node (a dual-stack peer dialed on its other family) is this node.
        Assert.Equal(ProofStatus.Valid, Check(authenticator, Proof(host: "[fd77:77::5]:5000"), host: "[fd77:77::5]:5000"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("10.0.0.5")]
    [InlineData(":5000")]
    [InlineData("10.0.0.5:")]
    [InlineData("10.0.0.5:99999")]
    [InlineData("10.0.0.5:50a0")]
    [InlineData("node-a:5000")]
    [InlineData("[10.0.0.5]:5000x")]
    [InlineData("fd77:77::5]:5000")]
    public void AMalformedHostIsInvalid(string host)
    {
        var authenticator = new PeerAuthenticator(Key, new FixedNodeAddresses(IPAddress.Parse("fd77:77::5")), _time);
        Assert.Equal(ProofStatus.Invalid, Check(authenticator, Proof(host: host), host: host));
    }

    [Fact]
    public void AnotherKeysProofOrNoKeyAtAllIsInvalid()
    {
        var authenticator = new PeerAuthenticator(Key, FixedNodeAddresses.None, _time);
        Assert.Equal(ProofStatus.Invalid, Check(authenticator, Proof(key: PeerKey.FromSwarmKey(new byte[32]))));
        Assert.Equal(ProofStatus.Invalid, Check(authenticator, "v1.garbage"));
        Assert.Equal(ProofStatus.Absent, authenticator.Check(null, "GET", Host, Target, Local));

        var keyless = new PeerAuthenticator(null, FixedNodeAddresses.None, _time);
        Assert.Equal(ProofStatus.Invalid, Check(keyless, Proof()));
        Assert.False(keyless.ProofRequired);
        Assert.False(new PeerAuthenticator(PeerKey.FromBasicAuth("Basic eDp5"), FixedNodeAddresses.None, _time).ProofRequired);
    }

    [Fact]
    public void WhenTheWindowIsFullProofsAreRefusedUntilOldOnesExpire()
    {
        var authenticator = new PeerAuthenticator(Key, FixedNodeAddresses.None, _time);
        var early = _time.GetUtcNow() - PeerAuthenticator.MaxSkew;
        for (int i = 0; i < PeerAuthenticator.MaxRemembered; i++)
        {
            Assert.Equal(ProofStatus.Valid, Check(authenticator, Proof(early)));
        }

        Assert.Equal(ProofStatus.WindowFull, Check(authenticator, Proof()));
        _time.Advance(TimeSpan.FromSeconds(1)); // the early proofs' window has passed: they are forgotten
        Assert.Equal(ProofStatus.Valid, Check(authenticator, Proof()));
    }
}
