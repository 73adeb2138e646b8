using Google.Protobuf;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Crypto;

/// <summary>
/// Keys inside peer IDs. Here rather than on <see cref="PeerId"/> so that Primitives (encodings) need nothing from
/// Crypto: keys know their IDs, IDs do not know keys.
/// </summary>
public static class PeerIdKeys
{
    /// <summary>The public key embedded in an identity-multihash peer ID, else null.</summary>
    public static PublicKey? TryGetPublicKey(this PeerId id)
    {
        if (!Multihash.TryParse(id.Bytes, out var hash) || hash!.Code != Multihash.Identity)
        {
            return null;
        }

        try
        {
            return PublicKey.FromProtobuf(hash.Digest);
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or NotSupportedException or InvalidDataException)
        {
            return null;
        }
    }
}
