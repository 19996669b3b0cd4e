# Reference values for the reads/agreement tests, computed independently of the
# Go code from the published formulas. Run: /usr/bin/python3 testdata/reference.py
# (NumPy 1.24.2, SciPy 1.10.1 from Debian bookworm python3-scipy).

import numpy as np
def kappa(t, w):
    t = np.asarray(t, float); n = t.sum(); p = t/n
    r = p.sum(1); c = p.sum(0)
    po = (w*p).sum(); pe = (w*np.outer(r,c)).sum()
    k = (po-pe)/(1-pe)
    wr = w@c; wc = r@w   # wbar_i. = sum_j p.j w_ij ; wbar_.j = sum_i p_i. w_ij
    A = (p*(w-(wr[:,None]+wc[None,:])*(1-k))**2).sum()
    var = (A-(k-pe*(1-k))**2)/(n*(1-pe)**2)
    se=np.sqrt(var)
    return po,pe,k,se,k-1.959963984540054*se,k+1.959963984540054*se
def W(kind, K):
    i=np.arange(K)
    d=np.abs(i[:,None]-i[None,:])/(K-1)
    return {'u':np.eye(K),'l':1-d,'q':1-d**2}[kind]

tabs = {
 'skin': [[10,4,1,0],[5,10,12,2],[2,4,12,5],[0,2,6,13]],
 'fleiss': [[75,1,4],[5,4,1],[0,0,10]],
}
for name,t in tabs.items():
    for kind in 'ulq':
        print(name, kind, ["%.10f"%x for x in kappa(t, W(kind,len(t)))])

from scipy import stats
def icc(Y, alpha=0.05):
    Y=np.asarray(Y,float); n,k=Y.shape; g=Y.mean()
    SSR=k*((Y.mean(1)-g)**2).sum(); SSC=n*((Y.mean(0)-g)**2).sum()
    SST=((Y-g)**2).sum(); SSE=SST-SSR-SSC
    MSR=SSR/(n-1); MSC=SSC/(k-1); MSE=SSE/((n-1)*(k-1))
    F0=MSR/MSE; df1=n-1; df2=(n-1)*(k-1)
    i3=(MSR-MSE)/(MSR+(k-1)*MSE)
    FL=F0/stats.f.ppf(1-alpha/2,df1,df2); FU=F0*stats.f.ppf(1-alpha/2,df2,df1)
    l3=(FL-1)/(FL+k-1); u3=(FU-1)/(FU+k-1)
    i2=(MSR-MSE)/(MSR+(k-1)*MSE+k*(MSC-MSE)/n)
    a=k*i2/(n*(1-i2)); b=1+k*i2*(n-1)/(n*(1-i2))
    v=(a*MSC+b*MSE)**2/((a*MSC)**2/(k-1)+(b*MSE)**2/((n-1)*(k-1)))
    Fs=stats.f.ppf(1-alpha/2,n-1,v); Fs2=stats.f.ppf(1-alpha/2,v,n-1)
    l2=n*(MSR-Fs*MSE)/(Fs*(k*MSC+(k*n-k-n)*MSE)+n*MSR)
    u2=n*(Fs2*MSR-MSE)/(k*MSC+(k*n-k-n)*MSE+n*Fs2*MSR)
    return dict(MSR=MSR,MSC=MSC,MSE=MSE,F=F0,df1=df1,df2=df2,icc2=i2,l2=l2,u2=u2,v=v,icc3=i3,l3=l3,u3=u3)
sf=[[9,2,5,8],[6,1,3,2],[8,4,6,8],[7,1,2,6],[10,5,6,9],[6,2,4,7]]
for name,Y in [('sf4',sf),('sf12',[r[:2] for r in sf]),('sf34',[r[2:] for r in sf])]:
    print(name, {k:'%.10g'%v for k,v in icc(Y).items()})
print('t975 df16 %.12g'%stats.t.ppf(0.975,16), 't df1 %.12g'%stats.t.ppf(0.975,1))
for (p,a,b) in [(0.975,5,15),(0.975,15,5),(0.95,1,16),(0.5,2.5,7.3),(0.999,3,1000),(0.01,0.7,2.2)]:
    print('Fppf',p,a,b,'%.12g'%stats.f.ppf(p,a,b))
for (x,a,b) in [(0.3,2,3),(0.9,0.5,0.5),(0.01,10,2),(0.5,50,60)]:
    print('betainc',x,a,b,'%.15g'%__import__('scipy.special',fromlist=['x']).betainc(a,b,x))

W=np.array([494,395,516,434,476,557,413,442,650,433,417,656,267,478,178,423,427],float)
M=np.array([512,430,520,428,500,600,364,380,658,445,432,626,260,477,259,350,451],float)
d=W-M; n=len(d); b=d.mean(); s=d.std(ddof=1); t=stats.t.ppf(0.975,n-1)
print('bias %.10g sd %.10g t %.10g'%(b,s,t))
for z,se in [(1.959963984540054, s*np.sqrt(1/n+1.959963984540054**2/(2*(n-1)))), (2.0, np.sqrt(3*s*s/n))]:
    lo,up=b-z*s,b+z*s
    print('z',z,'limits %.10g %.10g'%(lo,up),'bias CI %.10g %.10g'%(b-t*s/np.sqrt(n),b+t*s/np.sqrt(n)),
          'lowerCI %.10g %.10g'%(lo-t*se,lo+t*se),'upperCI %.10g %.10g'%(up-t*se,up+t*se))
